# syntax=docker/dockerfile:1
# cx-recording-gateway: build with dev dependencies, run with production ones only.
#   docker build -t cx-recording-gateway .
#   docker run --rm -p 3000:3000 -e ELEVEO_BASE_URL=https://eleveo.example.com \
#     -e ELEVEO_USERNAME=gateway -e ELEVEO_PASSWORD=... cx-recording-gateway
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# .npmrc carries the install-script approvals (esbuild, for tsx); the lock file pins every version.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json openapi.yaml ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
COPY simulators ./simulators
COPY scripts/bundle.mjs scripts/undici-subset.cjs ./scripts/
RUN npm run build

FROM ${NODE_IMAGE} AS production-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV HOST=0.0.0.0 \
    PORT=3000 \
    STATE_DIR=/var/lib/cx-recording-gateway
WORKDIR /app
COPY --from=production-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Its "type": "module" makes Node load dist/**/*.js as ES modules.
COPY package.json ./
# The operator's command line on the PATH: `docker exec <container> cx-recording-gateway doctor`.
RUN mkdir -p /var/lib/cx-recording-gateway && chown node:node /var/lib/cx-recording-gateway \
 && chmod +x dist/src/cli/main.js && ln -s /app/dist/src/cli/main.js /usr/local/bin/cx-recording-gateway
# The image's `node` user (uid 1000): nothing runs as root, and nothing under /app is writable by it.
USER node
# The only place the gateway writes (the file state store); the root file system can be read-only.
VOLUME ["/var/lib/cx-recording-gateway"]
EXPOSE 3000
# The slim image has no curl: Node's fetch asks /health/live (alive, never shed under pressure).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, no npm and no shell: node is PID 1, receives SIGTERM itself (graceful shutdown within
# SHUTDOWN_TIMEOUT_MS) and its exit code is the container's.
ENTRYPOINT ["node", "dist/src/server.js"]
