// Runs the end-to-end suite shipped inside the pinned @botpress/chat tarball against our agent.
// The suite imports the client as "../src" (its monorepo layout); here that is the installed
// package. API_URL and ENCRYPTION_KEY come from the environment, as in the original config.
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    alias: [{ find: /^\.\.\/src$/, replacement: "@botpress/chat" }],
  },
  test: {
    include: ["official-e2e/*.test.ts"],
    testTimeout: 20_000,
  },
});
