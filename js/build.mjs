// Bundles the chat panel into ONE minified ES module and its stylesheet:
// lume_widget/static/widget.js and lume_widget/static/widget.css (loaded by ChatWidget's
// _esm and _css), plus THIRD_PARTY_LICENSES.txt, the notices of the bundled packages
// (notices.mjs). `node build.mjs --watch` rebuilds on every change.
import * as esbuild from 'esbuild';
import { dirname, resolve } from 'node:path';
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
  const outputs = Object.entries(result.metafile.outputs).map(
    ([file, { bytes }]) => `${file.replace(/^.*lume_widget\//, 'lume_widget/')} ${(bytes / 1024).toFixed(1)} KB`,
  );
  console.log(outputs.join('\n'));
}
