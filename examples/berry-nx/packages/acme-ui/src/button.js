// acme-ui button
module.exports.button = (label) => `<button>${label}</button>`;
