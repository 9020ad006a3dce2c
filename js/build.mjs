// Bundles the chat panel into ONE minified ES module and its stylesheet:
// lume_widget/static/widget.js and lume_widget/static/widget.css (loaded by ChatWidget's
// _esm and _css), plus THIRD_PARTY_LICENSES.txt, the notices of the bundled packages
// (notices.mjs). `node build.mjs --watch` rebuilds on every change.
//
// A one-off build runs terser over esbuild's output (three compress passes, no unsafe
// transforms, console.log calls of the libraries dropped): about 2 KB of the 150 KB budget
// that esbuild's minifier leaves. The watch build skips it.
import * as esbuild from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { minify } from 'terser';
import { fileURLToPath } from 'node:url';
import { noticesPlugin } from './notices.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const options = {
  entryPoints: [resolve(here, 'src/index.js')],
  outfile: resolve(here, '../lume_widget/static/widget.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'none', // the full licences go to THIRD_PARTY_LICENSES.txt instead
  metafile: true,
  logLevel: 'info',
  plugins: [noticesPlugin(resolve(here, '../lume_widget/static/THIRD_PARTY_LICENSES.txt'), here)],
};

if (process.argv.includes('--watch')) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  const result = await esbuild.build(options);
  const code = readFileSync(options.outfile, 'utf8');
  const squeezed = await minify(code, {
    module: true,
    ecma: 2022,
    compress: { passes: 3, ecma: 2022, pure_funcs: ['console.log'] },
    mangle: true,
    format: { comments: false },
  });
  writeFileSync(options.outfile, squeezed.code);
  const outputs = Object.entries(result.metafile.outputs).map(([file, { bytes }]) => {
    const size = file.endsWith('widget.js') ? Buffer.byteLength(squeezed.code) : bytes;
    return `${file.replace(/^.*lume_widget\//, 'lume_widget/')} ${size} bytes`;
  });
  console.log(outputs.join('\n'));
}
