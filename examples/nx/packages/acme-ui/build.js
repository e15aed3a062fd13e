// The acme-ui "build": every src/*.js must parse; they are bundled into dist/acme-ui.js.
const fs = require('fs'), path = require('path'), vm = require('vm');
const src = path.join(__dirname, 'src');
const files = fs.readdirSync(src).filter(f => f.endsWith('.js')).sort();
const bundle = files.map(f => {
  const code = fs.readFileSync(path.join(src, f), 'utf8');
  new vm.Script(code, {filename: `packages/acme-ui/src/${f}`});  // throws on a syntax error
  return `// ${f}\n${code}`;
}).join('\n');
fs.mkdirSync(path.join(__dirname, 'dist'), {recursive: true});
fs.writeFileSync(path.join(__dirname, 'dist', 'acme-ui.js'), bundle);
console.log(`acme-ui: bundled ${files.length} files`);
