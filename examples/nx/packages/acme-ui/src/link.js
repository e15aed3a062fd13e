// acme-ui link
module.exports.link = function link(href, text) { return `<a href="${href}">${text}</a>`; };
