// server.js is a real SCIM 2.0 service provider (RFC 7643/7644) for allot's
// tests: scimmy parses, validates, filters, patches and paginates; its
// express routers speak the HTTP protocol; this file only keeps users and
// groups in memory, as scimmy ships no storage. test/harness/scim.go starts
// it with `node server.js`.
//
// Environment:
//   SCIM_TOKEN     bearer token every request must carry (required)
//   SCIM_HOST      address to listen on (default 127.0.0.1)
//   SCIM_PORT      port (default 0: a free one)
//   SCIM_MAX_PAGE  most resources one list response holds, as real IdPs cap
//                  a page whatever count asks for (default: no cap)
//   SCIM_LOG       when "1", one line per request on standard error
//
// Once listening it prints one JSON line on standard output:
//   {"url":"http://127.0.0.1:PORT/scim/v2"}
// It exits when standard input closes, so it never outlives the test that
// started it.
import crypto from "node:crypto";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const token = process.env.SCIM_TOKEN ?? "";
if (token === "") {
    console.error("SCIM_TOKEN is required");
    process.exit(2);
}
const host = process.env.SCIM_HOST || "127.0.0.1";
const port = Number(process.env.SCIM_PORT || 0);
const maxPage = Number(process.env.SCIM_MAX_PAGE || 0);
const mount = "/scim/v2";

// Users and groups by id, as plain JSON objects.
const users = new Map();
const groups = new Map();

const conflict = (msg) => new SCIMMY.Types.Error(409, "uniqueness", msg);
const notFound = (id) => new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
const plain = (instance) => JSON.parse(JSON.stringify(instance));
const now = () => new Date().toISOString();

// list applies a request's filter to every stored resource and caps the page
// size; scimmy's ListResponse sorts, offsets and paginates the result.
function list(store, resource) {
    const all = [...store.values()];
    if (maxPage > 0) {
        resource.constraints = {...(resource.constraints ?? {})};
        resource.constraints.count = Math.min(resource.constraints.count ?? maxPage, maxPage);
    }
    return resource.filter ? resource.filter.match(all) : all;
}

function read(store, resource) {
    if (resource.id !== undefined) {
        const found = store.get(resource.id);
        if (!found) throw notFound(resource.id);
        return found;
    }
    return list(store, resource);
}

// save stores a created (no id) or replaced resource, keeping id and created.
function save(store, resource, instance, unique) {
    const data = plain(instance);
    const previous = resource.id !== undefined ? store.get(resource.id) : undefined;
    if (resource.id !== undefined && !previous) throw notFound(resource.id);
    const id = previous?.id ?? crypto.randomUUID();
    unique(data, id);
    const stamp = now();
    const stored = {
        ...data,
        id,
        meta: {...(data.meta ?? {}), created: previous?.meta?.created ?? stamp, lastModified: stamp},
    };
    store.set(id, stored);
    return stored;
}

SCIMMY.Resources.declare(SCIMMY.Resources.User)
    .ingress((resource, instance) => save(users, resource, instance, (data, id) => {
        const name = String(data.userName ?? "").toLowerCase();
        for (const u of users.values()) {
            if (u.id !== id && String(u.userName).toLowerCase() === name) throw conflict(`userName ${data.userName} is already taken`);
        }
    }))
    .egress((resource) => read(users, resource))
    .degress((resource) => {
        if (!users.delete(resource.id)) throw notFound(resource.id);
        // A deleted user leaves every group, as in a real directory.
        for (const g of groups.values()) {
            g.members = (g.members ?? []).filter((m) => m.value !== resource.id);
        }
    });

SCIMMY.Resources.declare(SCIMMY.Resources.Group)
    .ingress((resource, instance) => {
        // Members must be users that exist; one user is a member once.
        const seen = new Set();
        const members = [];
        for (const m of plain(instance).members ?? []) {
            const user = users.get(m.value);
            if (!user) throw new SCIMMY.Types.Error(400, "invalidValue", `member ${m.value} is not a user`);
            if (seen.has(m.value)) continue;
            seen.add(m.value);
            members.push({value: m.value, display: user.userName, type: "User"});
        }
        return save(groups, resource, {...plain(instance), members}, (data, id) => {
            // displayName is unique here, as in most identity providers.
            const name = String(data.displayName ?? "").toLowerCase();
            for (const g of groups.values()) {
                if (g.id !== id && String(g.displayName).toLowerCase() === name) throw conflict(`displayName ${data.displayName} is already taken`);
            }
        });
    })
    .egress((resource) => read(groups, resource))
    .degress((resource) => {
        if (!groups.delete(resource.id)) throw notFound(resource.id);
    });

const app = express();
if (process.env.SCIM_LOG === "1") {
    app.use((req, res, next) => {
        res.on("finish", () => console.error(`${req.method} ${req.originalUrl} ${res.statusCode}`));
        next();
    });
}
const expected = Buffer.from(`Bearer ${token}`);
app.use(mount, new SCIMMYRouters({
    type: "bearer",
    handler: (req) => {
        const got = Buffer.from(req.header("Authorization") ?? "");
        if (got.length !== expected.length || !crypto.timingSafeEqual(got, expected)) {
            throw new Error("a valid bearer token is required");
        }
        return "allot-test";
    },
}));

const server = app.listen(port, host, () => {
    const {address, port: bound} = server.address();
    process.stdout.write(JSON.stringify({url: `http://${address}:${bound}${mount}`}) + "\n");
});
server.on("error", (err) => {
    console.error(err.message);
    process.exit(1);
});

// Exit when the parent closes standard input (or dies).
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
