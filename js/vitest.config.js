// Unit tests run in node; files that need a DOM (markdown, sanitizing) opt into jsdom with a
// `@vitest-environment jsdom` comment.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.js'],
    environment: 'node',
    reporters: ['default'],
  },
});
