// Every migration, in order. `npm run migration:generate -- Name` writes a new file here;
// add its class to this list.
export const MIGRATIONS: Function[] = [];
