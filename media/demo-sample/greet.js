'use strict';

/** The greeting the command line prints. */
function greet() {
  return 'Hello, world!';
}

module.exports = { greet };

if (require.main === module) console.log(greet(...process.argv.slice(2)));
