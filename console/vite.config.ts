// The web console's build: console/ → dist/console/, served by src/server/console.ts under
// /console/. Preact's JSX through esbuild's automatic runtime (no plugin needed); no inline
// scripts or styles anywhere, so the server's CSP can stay 'self' only.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/console/',
  logLevel: 'warn',
  publicDir: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: here('../dist/console'),
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be bundled into the entry; every browser the console targets has
    // modulepreload, and there is one chunk anyway.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
