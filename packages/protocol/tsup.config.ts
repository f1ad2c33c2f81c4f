import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/grpc.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['@grpc/grpc-js'],
});
