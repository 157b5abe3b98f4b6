/* global exports */
// The empty extension: what an activation costs the host when the extension does nothing.
exports.activate = function activate() {};
exports.deactivate = function deactivate() {};
