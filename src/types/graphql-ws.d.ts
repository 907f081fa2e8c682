// graphql-ws publishes its ws adapter only through package "exports", which TypeScript's "node"
// module resolution (this project's) does not read; Node and tsx do, at run time.
declare module 'graphql-ws/use/ws' {
  export * from 'graphql-ws/dist/use/ws';
}
