// Build and test configuration. The build is static files in dist/, served
// by the gateway on the same origin as the API, so no dev server or proxy is
// needed. `base: './'` keeps asset URLs relative; routing uses the URL hash
// so screen paths never collide with the API prefixes (/webtoons, ...).
import { defineConfig } from 'vitest/config';
import vue from '@vitejs/plugin-vue';

export default defineConfig({
  plugins: [vue()],
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.test.ts'],
    setupFiles: ['tests/setup.ts'],
    restoreMocks: true,
  },
});
