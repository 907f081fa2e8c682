# One image for both roles: `npm run api` and `npm run worker` (see docker-compose.yml). The API serves
# /metrics, /healthz and /readyz on 4000; the worker on 9464, and the Temporal SDK's metrics on 9465.
FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json schema.graphql ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
# The worker loads this bundle instead of running webpack at every start (src/workflow-bundle.ts).
ENV HOOKFLOW_CACHE_DIR=/app/.cache
RUN npm run bundle
ENV NODE_ENV=production HOST=0.0.0.0
USER node
EXPOSE 4000 9464 9465
CMD ["npm", "run", "api"]
