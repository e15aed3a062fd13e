// Each package's build: every src/*.js must parse and must not hold the BROKEN marker; they are
// bundled into dist/. Needs node >= 24 (what engines.node and .nvmrc say): RegExp.escape and
// import.meta.dirname do not exist in Debian's node 18.
import {readFileSync, readdirSync, mkdirSync, writeFileSync} from 'node:fs';
import {join, basename} from 'node:path';
import vm from 'node:vm';

const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`acme needs node >= 24.5 (engines.node), this is ${process.version}`);
  process.exit(1);
}
const pkg = process.cwd();
const marker = new RegExp(RegExp.escape('BROKEN'));
const files = readdirSync(join(pkg, 'src')).filter((f) => f.endsWith('.js')).sort();
let bundle = `// ${basename(pkg)} built by ${basename(import.meta.dirname)}/build.mjs on node ${process.version}\n`;
for (const f of files) {
  const src = readFileSync(join(pkg, 'src', f), 'utf8');
  if (marker.test(src)) {
    console.error(`BROKEN marker in ${basename(pkg)}/src/${f}`);
    process.exit(1);
  }
  new vm.Script(src, {filename: f});
  bundle += src;
}
mkdirSync(join(pkg, 'dist'), {recursive: true});
writeFileSync(join(pkg, 'dist', 'index.js'), bundle);
console.log(`${basename(pkg)}: bundled ${files.length} files on node ${process.version}`);
