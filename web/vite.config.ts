import { defineConfig } from "vite";

// The build lands inside the Python package, which serves it at `/` (same origin as the API).
export default defineConfig({
  base: "./",
  build: {
    outDir: "../src/racereplay/server/static",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    proxy: { "/api": { target: "http://127.0.0.1:8000", ws: true } },
  },
});
