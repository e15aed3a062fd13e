// acme-ui link
module.exports.link = (href, text) => `<a href="${href}">${text}</a>`;
