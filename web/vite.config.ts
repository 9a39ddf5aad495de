import { defineConfig } from "vite";

// The build lands inside the Python package, which serves it beside the API. Every URL
// in it is relative (`base: "./"`), so it also works under a proxy's sub-path (`/f1/`).
export default defineConfig({
  base: "./",
  build: {
    outDir: "../src/racereplay/server/static",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8000" },
      "/ws": { target: "ws://127.0.0.1:8000", ws: true },
    },
  },
});
