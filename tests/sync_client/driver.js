// Drives simulated devices (one WatermelonDB Database each, LokiJS in memory) for pytest.
//
// Protocol: one JSON command per line on stdin, one JSON answer per line on stdout
// ({"ok": true, "result": ...} or {"ok": false, "error": "..."}). Everything else goes to stderr.
// Any console.error / console.warn (WatermelonDB's [Sync] and 🍉 warnings) fails the command
// that caused it: several of them mean data was silently dropped or resurrected.
'use strict'

const readline = require('node:readline')
const { Database, Model } = require('@nozbe/watermelondb')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const { synchronize } = require('@nozbe/watermelondb/sync')
const { TABLES, ALL_TABLES, schemaAt, migrationsAt } = require('./schema')

// --- strict console ----------------------------------------------------------------------------
const warnings = []
const toStderr = (...args) => process.stderr.write(args.map(String).join(' ') + '\n')
console.log = toStderr
console.info = toStderr
console.debug = toStderr
console.warn = (...args) => { warnings.push(args.map(String).join(' ')); toStderr('WARN', ...args) }
console.error = (...args) => { warnings.push(args.map(String).join(' ')); toStderr('ERROR', ...args) }

// --- models --------------------------------------------------------------------------------------
const modelClasses = Object.keys(ALL_TABLES).map((table) => {
  const cls = class extends Model {}
  cls.table = table
  return cls
})

let dbCounter = 0
function openDatabase(schemaVersion) {
  dbCounter += 1
  const adapter = new LokiJSAdapter({
    schema: schemaAt(schemaVersion),
    migrations: migrationsAt(schemaVersion),
    useWebWorker: false,
    useIncrementalIndexedDB: true,
    dbName: `device-${dbCounter}`,
    extraLokiOptions: { autosave: false },
  })
  // Only the models of the tables this schema version has (WatermelonDB refuses the others).
  const tables = new Set(Object.keys(schemaAt(schemaVersion).tables))
  return new Database({ adapter, modelClasses: modelClasses.filter((cls) => tables.has(cls.table)) })
}

// --- devices -------------------------------------------------------------------------------------
const devices = {}
const gates = {} // device -> {release, done}: a sync paused between its pull and its push

class HttpError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}: ${body}`)
    this.status = status
    this.body = body
  }
}

async function call(device, path, options = {}) {
  path = withPatient(device, path)
  const send = () =>
    fetch(`${device.baseUrl}${path}`, {
      ...options,
      headers: { Authorization: `Bearer ${device.token}`, 'Content-Type': 'application/json' },
    })
  let response = await send()
  if (response.status === 401 && device.refresh) {
    // The access token expired (they last minutes): refresh it once and send the request again,
    // as the app does (POST /api/v1/auth/token/refresh/ rotates the refresh token too).
    const refreshed = await fetch(`${device.baseUrl}/api/v1/auth/token/refresh/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh: device.refresh }),
    })
    if (refreshed.ok) {
      const tokens = await refreshed.json()
      device.token = tokens.access
      device.refresh = tokens.refresh
      device.refreshes = (device.refreshes ?? 0) + 1
      response = await send()
    }
  }
  const text = await response.text()
  if (!response.ok) throw new HttpError(response.status, text)
  return JSON.parse(text)
}

// --- caregivers: one database per patient (docs/sync.md, "Caregivers") ---------------------------
// `?patient=` on every pull and push of a caregiver's database; after the 404 `not_in_scope` or
// the 403 `consent_revoked` the app drops that patient's database (the server kept any push).
const withPatient = (device, path) =>
  device.patient == null ? path : `${path}${path.includes('?') ? '&' : '?'}patient=${device.patient}`

const ACCESS_ENDED = [[404, 'not_in_scope'], [403, 'consent_revoked']]

async function dropIfAccessEnded(device, error) {
  if (device.patient == null || !error.body) return false
  const codes = (JSON.parse(error.body).errors ?? []).map((e) => e.code)
  if (!ACCESS_ENDED.some(([status, code]) => error.status === status && codes.includes(code))) {
    return false
  }
  await device.db.write(() => device.db.unsafeResetDatabase())
  return true
}

// --- paged pull: the client code of docs/sync.md ("Paged pull") ---------------------------------
const CURSOR_KEY = 'realign.pull_cursor'

async function pullPage(device, { lastPulledAt, schemaVersion, migration }, pageSize, seen) {
  const cursor = await device.db.localStorage.get(CURSOR_KEY)
  if (cursor) {
    if (device.failNextPages > 0) {
      device.failNextPages -= 1
      throw new Error('simulated: the connection dropped')
    }
    const query = new URLSearchParams({ cursor, schema_version: String(schemaVersion) })
    try {
      return await call(device, `/api/v1/sync/pull/?${query}`)
    } catch (error) {
      // A cursor the server no longer takes (expired, another user's, another schema version):
      // forget it and pull from the last timestamp. Every page's timestamp is safe to pull from.
      if (!(error.status === 400 && JSON.parse(error.body).errors[0].attr === 'cursor')) throw error
      seen.refusedCursors.push(JSON.parse(error.body).errors[0].code)
      await device.db.localStorage.remove(CURSOR_KEY)
    }
  }
  const query = new URLSearchParams({
    last_pulled_at: lastPulledAt == null ? 'null' : String(lastPulledAt),
    schema_version: String(schemaVersion),
    migration: JSON.stringify(migration ?? null),
    page_size: String(pageSize),
  })
  return call(device, `/api/v1/sync/pull/?${query}`)
}

async function sync(name, { losePushResponse = false, pauseBeforePush = false, pageSize = null } = {}) {
  const device = devices[name]
  const seen = { pulls: [], pushes: [], refusedCursors: [], rounds: 0, didPull: [], pushAnswers: [] }
  let log = {}
  try {
    if (pageSize) {
      // One synchronize() per page: each page is applied and stored as it comes, so a dropped
      // connection loses at most the page in flight. The cursor is saved once its page is applied.
      let more = true
      while (more) {
        more = false
        log = {}
        seen.rounds += 1
        await synchronize({
          database: device.db,
          sendCreatedAsUpdated: true,
          migrationsEnabledAtVersion: 1,
          log,
          pullChanges: async (args) => {
            const body = await pullPage(device, args, pageSize, seen)
            seen.pulls.push({
              lastPulledAt: args.lastPulledAt,
              migration: args.migration,
              timestamp: body.timestamp,
              records: countRecords(body.changes),
              cursor: body.cursor,
            })
            return { changes: body.changes, timestamp: body.timestamp, cursor: body.cursor }
          },
          onDidPullChanges: ({ cursor }) => {
            more = Boolean(cursor)
            return cursor
              ? device.db.localStorage.set(CURSOR_KEY, cursor)
              : device.db.localStorage.remove(CURSOR_KEY)
          },
          pushChanges: async ({ changes, lastPulledAt }) => {
            await call(device, `/api/v1/sync/push/?last_pulled_at=${lastPulledAt}`, {
              method: 'POST',
              body: JSON.stringify(changes),
            })
            seen.pushes.push({ lastPulledAt, changes })
          },
        })
      }
      return { synced: true, ...seen, refreshes: device.refreshes ?? 0 }
    }
    await synchronize({
      database: device.db,
      sendCreatedAsUpdated: true,
      migrationsEnabledAtVersion: 1,
      log,
      // The extra top-level keys of the pull (docs/sync.md: `rejected`), as the app gets them.
      onDidPullChanges: (extra) => { seen.didPull.push(extra) },
      pullChanges: async ({ lastPulledAt, schemaVersion, migration }) => {
        const query = new URLSearchParams({
          last_pulled_at: lastPulledAt == null ? 'null' : String(lastPulledAt),
          schema_version: String(schemaVersion),
          migration: JSON.stringify(migration ?? null),
        })
        const body = await call(device, `/api/v1/sync/pull/?${query}`)
        seen.pulls.push({ lastPulledAt, schemaVersion, migration, timestamp: body.timestamp })
        return body
      },
      pushChanges: async ({ changes, lastPulledAt }) => {
        if (pauseBeforePush) {
          await new Promise((release) => {
            gates[name].release = release
            gates[name].paused()
          })
        }
        const answer = await call(device, `/api/v1/sync/push/?last_pulled_at=${lastPulledAt}`, {
          method: 'POST',
          body: JSON.stringify(changes),
        })
        seen.pushAnswers.push(answer)
        seen.pushes.push({ lastPulledAt, changes })
        if (losePushResponse) throw new Error('simulated: the push response was lost')
      },
    })
    return { synced: true, ...seen, migration: log.migration ?? null, refreshes: device.refreshes ?? 0 }
  } catch (error) {
    return {
      synced: false,
      dropped: await dropIfAccessEnded(device, error),
      status: error.status ?? null,
      body: error.body ? JSON.parse(error.body) : null,
      message: String(error.message),
      ...seen,
    }
  }
}

function countRecords(changes) {
  return Object.values(changes).reduce(
    (n, c) => n + c.created.length + c.updated.length + c.deleted.length,
    0,
  )
}

function plainRaw(raw) {
  const { _status, _changed, ...rest } = raw
  return { ...rest, _status }
}

const commands = {
  async open({ device, baseUrl, token, refresh = null, schema = 2, patient = null }) {
    devices[device] = { db: openDatabase(schema), baseUrl, token, refresh, schema, patient }
    return { schema }
  },
  async token({ device, token, refresh }) {
    devices[device].token = token
    if (refresh !== undefined) devices[device].refresh = refresh
    return {}
  },
  async dropConnection({ device, pages }) {
    // The next `pages` page requests fail as if the train entered a tunnel.
    devices[device].failNextPages = pages
    return {}
  },
  async setCursor({ device, cursor }) {
    await devices[device].db.localStorage.set(CURSOR_KEY, cursor)
    return {}
  },
  async cursor({ device }) {
    return { cursor: (await devices[device].db.localStorage.get(CURSOR_KEY)) ?? null }
  },
  async syncTogether({ devices: names, pageSize = null }) {
    // Several phones of the patient syncing at the same moment (each its own database).
    return Promise.all(names.map((name) => sync(name, { pageSize })))
  },
  async create({ device, table, values }) {
    const { db } = devices[device]
    let id
    await db.write(async () => {
      const record = await db.get(table).create((r) => {
        for (const [column, value] of Object.entries(values)) r._setRaw(column, value)
      })
      id = record.id
    })
    return { id }
  },
  async update({ device, table, id, values }) {
    const { db } = devices[device]
    await db.write(async () => {
      const record = await db.get(table).find(id)
      await record.update((r) => {
        for (const [column, value] of Object.entries(values)) r._setRaw(column, value)
      })
    })
    return {}
  },
  async delete({ device, table, id }) {
    const { db } = devices[device]
    await db.write(async () => {
      const record = await db.get(table).find(id)
      await record.markAsDeleted()
    })
    return {}
  },
  async records({ device, table }) {
    const { db } = devices[device]
    const records = await db.get(table).query().fetch()
    const deleted = await db.adapter.getDeletedRecords(table)
    return { records: records.map((r) => plainRaw(r._raw)), locallyDeleted: deleted }
  },
  async sync({ device, losePushResponse, pauseBeforePush, pageSize }) {
    if (!pauseBeforePush) return sync(device, { losePushResponse, pageSize })
    // Answer once the sync has pulled and is about to push; `resume` finishes it.
    return new Promise((answer) => {
      gates[device] = { paused: () => answer({ paused: true }) }
      gates[device].done = sync(device, { losePushResponse, pauseBeforePush: true }).then((result) => {
        if (gates[device].release === undefined) answer(result) // finished without pushing
        return result
      })
    })
  },
  async resume({ device }) {
    const gate = gates[device]
    gate.release()
    const result = await gate.done
    delete gates[device]
    return result
  },
  async upgrade({ device, schema }) {
    // An app update: the same local data under a newer schema. LokiJS in Node keeps its data in
    // memory per adapter, so the upgrade copies every raw record (with its sync status) and the
    // sync bookkeeping into a database opened at the new version, as the app's migration would.
    const old = devices[device]
    const db = openDatabase(schema)
    await db.write(async () => {
      const batch = []
      for (const table of Object.keys(TABLES)) {
        const records = await old.db.get(table).query().fetch()
        for (const record of records) batch.push(db.get(table).prepareCreateFromDirtyRaw({ ...record._raw }))
      }
      await db.batch(batch)
      for (const key of ['__watermelon_last_pulled_at', '__watermelon_last_pulled_schema_version']) {
        const value = await old.db.adapter.getLocal(key)
        if (value != null) await db.adapter.setLocal(key, value)
      }
    })
    devices[device] = { ...old, db, schema }
    return { schema }
  },
}

const rl = readline.createInterface({ input: process.stdin })
let queue = Promise.resolve()
rl.on('line', (line) => {
  if (!line.trim()) return
  const command = JSON.parse(line)
  const run = async () => {
    const before = warnings.length
    let answer
    try {
      const result = await commands[command.cmd](command)
      const fresh = warnings.slice(before)
      answer = fresh.length
        ? { ok: false, error: `WatermelonDB warned: ${fresh.join(' | ')}`, result }
        : { ok: true, result }
    } catch (error) {
      answer = { ok: false, error: String(error && error.stack ? error.stack : error) }
    }
    process.stdout.write(JSON.stringify(answer) + '\n')
  }
  // Commands run one after another; a paused sync answers at its pause, so others run meanwhile.
  queue = queue.then(run)
})
rl.on('close', () => queue.then(() => process.exit(warnings.length ? 1 : 0)))
