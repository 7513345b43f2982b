import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the actor's endpoints to a running actor (default http://127.0.0.1:8000).
const actor = process.env.ACTOR_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: {
      "/rl/actor": { target: actor, ws: true },
      "/metrics": actor,
    },
  },
  test: {
    environment: "jsdom",
    include: ["tests/unit/**/*.test.{js,jsx}"],
  },
});
