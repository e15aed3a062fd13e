// acme-ui button
module.exports.button = function button(label) { return `<button>${label}</button>`; };
