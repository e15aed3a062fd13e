// acme-shared format
module.exports.format = (s) => String(s).trim();
