# syntax=docker/dockerfile:1
# Build: docker build -t showmebug-wecom .
# Run (NODE_ENV=production requires both secrets and the WeCom app's credentials; the service
# serves as smbw_app and migrates as smbw_owner, see the README's "On a real PostgreSQL server"):
#   docker run -p 3000:3000 -e DATABASE_URL=postgres://smbw_app:pass@host:5432/smbw \
#     -e DATABASE_MIGRATION_URL=postgres://smbw_owner:pass@host:5432/smbw \
#     -e AUTH_JWT_SECRET=<the platform's HS256 secret> -e APP_ENCRYPTION_KEY=k1:$(openssl rand -base64 32) \
#     -e WECOM_CORP_ID=<corp id> -e WECOM_CORP_SECRET=<app secret> -e WECOM_AGENT_ID=<AgentId> showmebug-wecom
# Try it without WeCom (the built-in simulator on port 4010 inside the container, the embedded
# database in /app/data; nothing reaches real members):
#   docker run -p 3000:3000 -e AUTH_JWT_SECRET=$(openssl rand -hex 32) \
#     -e APP_ENCRYPTION_KEY=k1:$(openssl rand -base64 32) -e WECOM_SANDBOX=true showmebug-wecom
# test/docker-run.e2e-spec.ts runs both commands (the CMD below, with these variables) and the old
# incomplete one, so this comment cannot drift from what production requires.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ormconfig.ts ./
COPY src ./src
COPY tools ./tools
# The admin console (web/, on the typed client in clients/) is built into dist/web, served at /admin.
COPY clients ./clients
COPY web ./web
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    PGLITE_DIR=/app/data/pglite
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY scripts ./scripts
RUN mkdir -p /app/data && chown -R node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
# Migrations first (as DATABASE_MIGRATION_URL's role when set, under the same advisory lock the
# app takes), then the service.
CMD ["sh", "-c", "node scripts/migration.mjs run && exec node dist/src/main.js"]
