// The app's local schema, as docs/sync.md describes it for the mobile team.
// Version 1: the seven clinical tables. Version 2 adds `created_by` to every table. Version 3
// adds outcome_scores, prep_items, imaging_studies, complications, check_ins and the inbox
// (notifications). Version 4 adds medications and pain_logs.medications.
'use strict'

const { appSchema, tableSchema } = require('@nozbe/watermelondb')
const {
  schemaMigrations,
  addColumns,
  createTable,
} = require('@nozbe/watermelondb/Schema/migrations')

const n = (name) => ({ name, type: 'number', isOptional: true })
const s = (name) => ({ name, type: 'string', isOptional: true })
const b = (name) => ({ name, type: 'boolean', isOptional: true })
// WatermelonDB requires these two as plain (non-optional) numbers; the client stamps them itself.
const meta = [{ name: 'created_at', type: 'number' }, { name: 'updated_at', type: 'number' }]

// Each table's columns as of the version that introduced it (`since`).
const V1 = {
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
const V3 = {
  outcome_scores: [s('instrument'), s('version'), s('timepoint'), n('completed_at'), s('surgery'),
    s('answers'), n('sections_answered'), n('score')],
  prep_items: [s('surgery'), s('kind'), s('title'), s('owner'), s('due_on'), s('status'),
    s('completed_on'), s('waived_reason'), s('quit_on'), b('nicotine_free_confirmed'),
    s('second_opinion'), n('hba1c_percent'), s('hba1c_on'), n('weight_kg'), n('bmi'), s('notes')],
  imaging_studies: [s('surgery'), s('modality'), s('performed_on'), s('region'), s('levels'),
    s('purpose'), s('reading'), s('fusion_status'), s('hardware_status'),
    b('adjacent_level_change')],
  complications: [s('surgery'), s('kind'), s('noticed_on'), s('severity'), s('treatment'),
    s('resolved_on'), s('notes')],
  check_ins: [n('answered_at'), n('temperature_c'), b('wound_redness'),
    b('wound_swelling_or_drainage'), b('wound_opening'), b('new_numbness_or_weakness'),
    b('bowel_bladder_loss_or_saddle_numbness'), b('cannot_move_limb'),
    b('calf_pain_or_leg_swelling'), b('chest_pain_or_breathless'),
    b('trouble_swallowing_or_breathing'), b('pain_uncontrolled'), b('fell'), s('notes')],
  notifications: [s('kind'), s('title'), s('body'), n('due_at'), n('read_at')],
}
const V4 = {
  medications: [s('name'), s('dose'), s('started_on'), s('stopped_on'), s('notes')],
}
// Columns added to an existing table: version -> table -> columns.
const ADDED_COLUMNS = { 4: { pain_logs: [s('medications')] } }
// The inbox is no clinical record: it has no `created_by`.
const NO_CREATED_BY = new Set(['notifications'])

const TABLES = { ...V1, ...V3, ...V4 }
const SINCE = Object.fromEntries([
  ...Object.keys(V1).map((t) => [t, 1]),
  ...Object.keys(V3).map((t) => [t, 3]),
  ...Object.keys(V4).map((t) => [t, 4]),
])

const tablesAt = (version) => Object.keys(TABLES).filter((table) => SINCE[table] <= version)

function columnsAt(table, version) {
  const added = Object.entries(ADDED_COLUMNS)
    .filter(([since]) => Number(since) <= version)
    .flatMap(([, tables]) => tables[table] ?? [])
  const createdBy = version >= 2 && !NO_CREATED_BY.has(table) ? [s('created_by')] : []
  return [...TABLES[table], ...added, ...meta, ...createdBy]
}

function schemaAt(version) {
  const tables = tablesAt(version).map((name) =>
    tableSchema({ name, columns: columnsAt(name, version) }),
  )
  return appSchema({ version, tables })
}

const created = (version, tables) =>
  Object.keys(tables).map((name) => createTable({ name, columns: columnsAt(name, version) }))

const MIGRATIONS = [
  {
    toVersion: 2,
    steps: Object.keys(V1).map((table) => addColumns({ table, columns: [s('created_by')] })),
  },
  { toVersion: 3, steps: created(3, V3) },
  {
    toVersion: 4,
    steps: [
      ...created(4, V4),
      ...Object.entries(ADDED_COLUMNS[4]).map(([table, columns]) => addColumns({ table, columns })),
    ],
  },
]

// The migrations an app built at `version` ships with.
const migrationsAt = (version) =>
  schemaMigrations({ migrations: MIGRATIONS.filter((m) => m.toVersion <= version) })

module.exports = { TABLES, tablesAt, schemaAt, migrationsAt }
