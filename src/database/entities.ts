// Every TypeORM entity, listed once for the app and the CLI (see database.options.ts).
export const ENTITIES: Function[] = [];
