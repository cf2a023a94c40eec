// First start of the compose MongoDB (docker-entrypoint-initdb.d, run as the root user): the users
// the app uses, so it never connects as MONGO_INITDB_ROOT_USERNAME (#14, docs/architecture.md
// "Privilege model"). The same commands as README.md, "Read-only console logins".
//   p2p_app      readWrite (+ dbAdmin: collMod for the validators) on the app's two databases only
//   p2p_console  read on the app's two databases only (the Mongo console)
// The two databases: MONGODB_DB ("blue") and MONGODB_DB_green; a reseed builds in the one not live
// and flips a pointer (#19, docs/architecture.md "Reseed").
const dbName = process.env.MONGODB_DB || "p2p_sandbox";
const dbNames = [dbName, dbName + "_green"];
const admin = db.getSiblingDB("admin");
admin.createUser({
  user: "p2p_app",
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: dbNames.flatMap((name) => [{ role: "readWrite", db: name }, { role: "dbAdmin", db: name }]),
});
admin.createUser({
  user: "p2p_console",
  pwd: process.env.MONGO_READONLY_PASSWORD,
  roles: dbNames.map((name) => ({ role: "read", db: name })),
});
