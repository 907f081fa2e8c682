# One image for both roles: `npm run api` and `npm run worker` (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# `npm install --no-save`, not `npm ci`: see .ci/run (the lock file cannot list other platforms' optional binaries).
RUN npm install --omit=dev --no-save --no-audit --no-fund
COPY tsconfig.json schema.graphql ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
# The worker loads this bundle instead of running webpack at every start (src/workflow-bundle.ts).
ENV HOOKFLOW_CACHE_DIR=/app/.cache
RUN npm run bundle
ENV NODE_ENV=production HOST=0.0.0.0
USER node
CMD ["npm", "run", "api"]
