// First start of the compose MongoDB (docker-entrypoint-initdb.d, run as the root user): the users
// the app uses, so it never connects as MONGO_INITDB_ROOT_USERNAME (#14, docs/architecture.md
// "Privilege model"). The same commands as README.md, "Read-only console logins".
//   p2p_app      readWrite (+ dbAdmin: collMod for the validators) on the app database only
//   p2p_console  read on the app database only (the Mongo console)
const dbName = process.env.MONGODB_DB || "p2p_sandbox";
const admin = db.getSiblingDB("admin");
admin.createUser({
  user: "p2p_app",
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: dbName }, { role: "dbAdmin", db: dbName }],
});
admin.createUser({
  user: "p2p_console",
  pwd: process.env.MONGO_READONLY_PASSWORD,
  roles: [{ role: "read", db: dbName }],
});
