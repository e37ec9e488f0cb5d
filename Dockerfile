# Herald hub image: build with the dev toolchain, run with production deps only.
# Node 24, an LTS line (supported until April 2028), in both stages: the native
# addon (better-sqlite3) is compiled in the first for the Node of the second.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# npm ci links the workspace packages (libs/contracts, publisher, client), so
# their manifests must be there; the hub itself runs none of them from
# node_modules (it imports libs/ through package.json "imports").
COPY libs/contracts/package.json libs/contracts/
COPY libs/publisher/package.json libs/publisher/
COPY libs/client/package.json libs/client/
# The lock file holds every platform's optional binaries, so it installs here too.
RUN npm ci
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps apps
COPY libs libs
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
# The code stays root-owned and read-only to the hub. Only the SQLite default
# (./data/herald.sqlite, used when DATABASE_URL is unset) needs a directory the
# hub may write; on Kubernetes the root filesystem is read-only and
# DATABASE_URL points at PostgreSQL.
RUN mkdir data && chown node:node data
# The node image's unprivileged user (uid 1000).
USER node
EXPOSE 3000
# Liveness for plain Docker (Swarm restarts an unhealthy container, so not
# readiness: a Redis outage must not restart every hub). Kubernetes ignores it
# and uses the Deployment's probes; compose checks readiness itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/health/live`).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself, to drain its streams.
CMD ["node", "dist/apps/hub/src/main.js"]
