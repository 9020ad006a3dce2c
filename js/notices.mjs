// The licences of the third-party packages bundled into widget.js. Their licences (DOMPurify:
// MPL-2.0 or Apache-2.0, marked: MIT, highlight.js: BSD-3-Clause) require the notices to travel
// with every copy, and the minified bundle drops comments, so the build writes them beside it:
// lume_widget/static/THIRD_PARTY_LICENSES.txt, which ships in the wheel and the sdist.
// The list comes from esbuild's metafile, so a package added to the bundle is listed by itself.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const LICENCE_FILE = /^(licen[cs]e|copying|notice)([-._].*)?$/i;

/** The node_modules packages (name -> folder) that contributed bytes to the bundle. */
export function bundledPackages(metafile, root) {
  const packages = new Map();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      if (!bytesInOutput) continue;
      const match = input.match(/(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//);
      if (match) packages.set(match[1], resolve(root, input.slice(0, match.index + match[0].length)));
    }
  }
  return new Map([...packages].sort(([a], [b]) => a.localeCompare(b)));
}

/** The notices text: for each bundled package its name, version, licence and licence files. */
export function noticesText(packages) {
  const parts = [
    'Third-party software bundled into lume_widget/static/widget.js',
    '=================================================================',
    '',
  ];
  for (const [name, folder] of packages) {
    const meta = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
    const files = readdirSync(folder).filter((file) => LICENCE_FILE.test(file)).sort();
    if (files.length === 0) throw new Error(`${name} is bundled but ships no licence file`);
    parts.push('-'.repeat(72), `${name} ${meta.version}, licence: ${meta.license}`);
    if (meta.homepage) parts.push(meta.homepage);
    parts.push('-'.repeat(72), '');
    for (const file of files) parts.push(`${file}:`, '', readFileSync(join(folder, file), 'utf8').trim(), '');
  }
  return `${parts.join('\n')}\n`;
}

/** An esbuild plugin that rewrites the notices file after every build (watch mode too). */
export function noticesPlugin(outfile, root) {
  return {
    name: 'third-party-notices',
    setup(build) {
      build.onEnd((result) => {
        if (result.errors.length || !result.metafile) return;
        writeFileSync(outfile, noticesText(bundledPackages(result.metafile, root)));
      });
    },
  };
}
