# syntax=docker/dockerfile:1
# Node 24 LTS: the AWS SDK's releases after the first week of January 2027 require Node 22 or later,
# and 24 is supported until April 2028 (22 until April 2027). Both stages use the same image, pinned
# by tag and the digest of its multi-platform index, so a rebuild starts from the same bytes.
# Where the digest comes from: Docker Hub's node:24.21.0-bookworm-slim, as pinned (tag and digest
# together) in public Dockerfiles; no registry was reachable from the machine that wrote this line.
# To move to a newer Node 24 (or 22), read the index digest of the new tag and replace both FROM lines:
#   docker buildx imagetools inspect node:24-bookworm-slim   # "Name:" has the tag, "Digest:" the digest
# then run `scripts/test-on-node.sh <that version>` and `npx vitest run test/unit/packaging.test.ts`.

# Build stage: every dependency exactly as the lock has it, then TypeScript to dist/.
FROM node:24.21.0-bookworm-slim@sha256:0e0ff40c39bc087845bfb27465a0df4ea419520094bc35842ff83dd8cbe6f9b6 AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci installs the lock or fails; no dependency's install script runs (none is needed:
# msgpackr-extract's native code comes as prebuilt per-platform packages, which the lock lists).
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime stage: production dependencies only (the demo's embedded S3, s3rver, is a development
# dependency, like the test tooling), non-root.
FROM node:24.21.0-bookworm-slim@sha256:0e0ff40c39bc087845bfb27465a0df4ea419520094bc35842ff83dd8cbe6f9b6 AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["run"]
