'use strict';
const assert = require('node:assert/strict');
const { greet } = require('../greet');

assert.equal(greet(), 'Hello, world!');
