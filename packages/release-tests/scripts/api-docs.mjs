#!/usr/bin/env node
// Generates the API reference of every public package from its doc comments, with TypeDoc
// and typedoc-plugin-markdown: `docs/api/<package>/` for each, and `docs/api/README.md`.
// `node scripts/api-docs.mjs [OUT]` (default: the repository's docs/api). A test regenerates
// it into a temp dir and fails on any difference from the checked-in copy, so a change of
// the public API shows in review. The entry points are each package's `exports` (their
// sources), except `@kontiki/core/internal`, which is not covered by semver.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application } from 'typedoc';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const out = resolve(process.argv[2] ?? join(root, 'docs/api'));
const UNSTABLE = new Set(['@kontiki/core/internal']);

/** The public packages that have types, with their entry points' sources. */
function packages() {
  return ['packages', 'apps']
    .flatMap((parent) => readdirSync(join(root, parent)).map((name) => `${parent}/${name}`))
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .sort()
    .map((dir) => ({
      dir,
      manifest: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')),
    }))
    .filter(({ manifest }) => manifest.private !== true && manifest.exports !== undefined)
    .map(({ dir, manifest }) => ({
      dir,
      name: manifest.name,
      description: manifest.description,
      entryPoints: Object.entries(manifest.exports)
        .filter(([subpath]) => !UNSTABLE.has(join(manifest.name, subpath)))
        .map(([, target]) => {
          const types = typeof target === 'string' ? target : target.types;
          return join(root, dir, types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts'));
        }),
    }));
}

async function generate(pkg, dest) {
  const app = await Application.bootstrapWithPlugins({
    name: pkg.name,
    entryPoints: pkg.entryPoints,
    entryPointStrategy: 'resolve',
    tsconfig: join(root, pkg.dir, 'tsconfig.json'),
    plugin: ['typedoc-plugin-markdown'],
    out: dest,
    readme: 'none',
    // No links to source lines: they would change with every edit of a file.
    disableSources: true,
    excludePrivate: true,
    excludeProtected: true,
    excludeInternal: true,
    excludeExternals: true,
    skipErrorChecking: true,
    hidePageHeader: true,
    hideBreadcrumbs: true,
    outputFileStrategy: 'modules',
    // Members in the order the source declares them (required options first, ...).
    sort: ['source-order'],
    logLevel: 'Warn',
    validation: { notExported: false, invalidLink: true, notDocumented: false },
  });
  const project = await app.convert();
  if (project === undefined) throw new Error(`TypeDoc could not convert ${pkg.name}`);
  await app.generateOutputs(project);
  if (app.logger.hasErrors()) throw new Error(`TypeDoc reported errors for ${pkg.name}`);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const all = packages();
for (const pkg of all) await generate(pkg, join(out, pkg.name.replace('@kontiki/', '')));
writeFileSync(
  join(out, 'README.md'),
  [
    '# Kontiki API reference',
    '',
    'Generated from the doc comments by `pnpm api` (TypeDoc); do not edit by hand. A test',
    'regenerates it and fails on any difference, so a change of the public API shows here.',
    '',
    ...all.map(
      (p) => `- [\`${p.name}\`](${p.name.replace('@kontiki/', '')}/README.md): ${p.description}`,
    ),
    '',
  ].join('\n'),
);
