// The app's local schema, as docs/sync.md describes it for the mobile team.
// Version 1: the seven clinical tables. Version 2 adds `created_by` to every table.
'use strict'

const { appSchema, tableSchema } = require('@nozbe/watermelondb')
const { schemaMigrations, addColumns } = require('@nozbe/watermelondb/Schema/migrations')

const n = (name) => ({ name, type: 'number', isOptional: true })
const s = (name) => ({ name, type: 'string', isOptional: true })
const b = (name) => ({ name, type: 'boolean', isOptional: true })
// WatermelonDB requires these two as plain (non-optional) numbers; the client stamps them itself.
const meta = [{ name: 'created_at', type: 'number' }, { name: 'updated_at', type: 'number' }]

const TABLES = {
  surgeries: [s('performed_on'), s('region'), s('levels'), s('procedure'), b('is_revision'),
    s('revision_reasons'), s('prior_surgery'), s('surgeon'), s('facility'), s('notes'),
    n('estimated_blood_loss_ml'), b('transfusion_given')],
  hospital_stays: [s('surgery'), n('admitted_at'), n('discharged_at'), s('facility'),
    s('discharge_disposition')],
  pain_logs: [n('recorded_at'), n('intensity'), s('location'), b('medication_taken'), s('relief'),
    s('notes')],
  pt_sessions: [n('scheduled_for'), n('performed_at'), s('status'), s('setting'),
    n('duration_minutes'), s('exercises'), n('pain_before'), n('pain_after'), n('exertion'),
    s('notes')],
  restrictions: [s('activity'), s('instructions'), n('limit_value'), s('limit_unit'),
    s('starts_on'), s('ends_on'), s('lifted_on'), s('lifted_by')],
  appointments: [s('clinician'), n('starts_at'), n('ends_at'), s('location'), s('telehealth_url'),
    s('purpose'), s('imaging'), s('status'), s('notes'), s('imaging_study')],
  milestones: [s('title'), s('kind'), s('target_on'), s('achieved_on'), s('notes')],
}

// Tables of later schema versions (docs/sync.md, "Schema versions"): the app has them from
// `since` on. Version 5: daily_steps.
const LATER = {
  daily_steps: { since: 5, columns: [s('day'), n('steps'), n('counted_at'), s('source')] },
}
const ALL_TABLES = { ...TABLES, ...Object.fromEntries(Object.entries(LATER).map(([k, v]) => [k, v.columns])) }

function schemaAt(version) {
  const tables = Object.entries(TABLES).map(([name, columns]) =>
    tableSchema({
      name,
      columns: [...columns, ...meta, ...(version >= 2 ? [s('created_by')] : [])],
    }),
  )
  for (const [name, table] of Object.entries(LATER)) {
    if (table.since <= version) {
      tables.push(tableSchema({ name, columns: [...table.columns, ...meta, s('created_by')] }))
    }
  }
  return appSchema({ version, tables })
}

const MIGRATIONS = [
  {
    toVersion: 2,
    steps: Object.keys(TABLES).map((table) => addColumns({ table, columns: [s('created_by')] })),
  },
]

// The migrations an app built at `version` ships with.
const migrationsAt = (version) =>
  schemaMigrations({ migrations: MIGRATIONS.filter((m) => m.toVersion <= version) })

module.exports = { TABLES, ALL_TABLES, schemaAt, migrationsAt }
