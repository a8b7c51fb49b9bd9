# syntax=docker/dockerfile:1
# The hub on Node.js 20 (the uWebSockets.js build it ships with needs Node 20 and glibc >= 2.36:
# bookworm has 2.36). Two stages: build the TypeScript, then a runtime with production deps only.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspaces' manifests first, so that npm ci links them (the SDK and CLI build with the hub).
COPY packages/client/package.json ./packages/client/
COPY packages/cli/package.json ./packages/cli/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The web app (web/ → dist/webapp) is built by `npm run build` too.
COPY web ./web
COPY packages ./packages
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HUB_HOST=0.0.0.0 \
    HUB_PORT=8080 \
    HUB_DATA_DIR=/var/lib/hub
WORKDIR /app
# A non-root user: the embedded PostgreSQL (used when DATABASE_URL is unset) then runs as it too.
RUN groupadd --system hub && useradd --system --gid hub --home-dir /var/lib/hub hub \
    && mkdir -p /var/lib/hub && chown hub:hub /var/lib/hub
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
USER hub
VOLUME ["/var/lib/hub"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HUB_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
