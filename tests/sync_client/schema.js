// The app's local schema, as docs/sync.md describes it for the mobile team.
// Version 1: the seven clinical tables. Version 2 adds `created_by` to every table.
'use strict'

const { appSchema, tableSchema } = require('@nozbe/watermelondb')
const { schemaMigrations, addColumns, createTable } = require('@nozbe/watermelondb/Schema/migrations')

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
// `since` on (3: the care tables and the inbox; 4: medications; 5: daily_steps;
// 6: wound_photos).
const LATER = {
  medications: { since: 4, columns: [s('name'), s('dose'), s('started_on'), s('stopped_on'), s('notes')] },
  outcome_scores: { since: 3, columns: [s('instrument'), s('version'), s('timepoint'), n('completed_at'), s('surgery'), s('answers'), n('sections_answered'), n('score')] },
  prep_items: { since: 3, columns: [s('surgery'), s('kind'), s('title'), s('owner'), s('due_on'), s('status'), s('completed_on'), s('waived_reason'), s('quit_on'), b('nicotine_free_confirmed'), s('second_opinion'), n('hba1c_percent'), s('hba1c_on'), n('weight_kg'), n('bmi'), s('notes')] },
  imaging_studies: { since: 3, columns: [s('surgery'), s('modality'), s('performed_on'), s('region'), s('levels'), s('purpose'), s('reading'), s('fusion_status'), s('hardware_status'), b('adjacent_level_change')] },
  complications: { since: 3, columns: [s('surgery'), s('kind'), s('noticed_on'), s('severity'), s('treatment'), s('resolved_on'), s('notes')] },
  daily_steps: { since: 5, columns: [s('day'), n('steps'), n('counted_at'), s('source')] },
  wound_photos: { since: 6, columns: [n('taken_at'), s('note'), s('image'), s('thumbnail'), s('content_type'), n('width'), n('height'), n('byte_size'), s('upload_sha256'), s('review_outcome'), s('review_comment'), s('reviewed_by'), n('reviewed_at')] },
  check_ins: { since: 3, columns: [n('answered_at'), n('temperature_c'), b('wound_redness'), b('wound_swelling_or_drainage'), b('wound_opening'), b('new_numbness_or_weakness'), b('bowel_bladder_loss_or_saddle_numbness'), b('cannot_move_limb'), b('calf_pain_or_leg_swelling'), b('chest_pain_or_breathless'), b('trouble_swallowing_or_breathing'), b('pain_uncontrolled'), b('fell'), s('notes')] },
  notifications: { since: 3, columns: [s('kind'), s('title'), s('body'), n('due_at'), n('read_at')] },
}
// Columns later versions add to existing tables (4: pain_logs.medications).
const ADDED_COLUMNS = { 4: { pain_logs: [s('medications')] } }
const addedUpTo = (version, table) =>
  Object.entries(ADDED_COLUMNS)
    .filter(([v]) => Number(v) <= version)
    .flatMap(([, tables]) => tables[table] || [])
const ALL_TABLES = { ...TABLES, ...Object.fromEntries(Object.entries(LATER).map(([k, v]) => [k, v.columns])) }

function schemaAt(version) {
  const tables = Object.entries(TABLES).map(([name, columns]) =>
    tableSchema({
      name,
      columns: [
        ...columns,
        ...addedUpTo(version, name),
        ...meta,
        ...(version >= 2 ? [s('created_by')] : []),
      ],
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
  ...[3, 4, 5, 6].map((version) => ({
    toVersion: version,
    steps: [
      ...Object.entries(ADDED_COLUMNS[version] || {}).map(([table, columns]) =>
        addColumns({ table, columns }),
      ),
      ...Object.entries(LATER)
        .filter(([, table]) => table.since === version)
        .map(([name, table]) =>
          createTable({ name, columns: [...table.columns, ...meta, s('created_by')] }),
        ),
    ],
  })),
]

// The migrations an app built at `version` ships with.
const migrationsAt = (version) =>
  schemaMigrations({ migrations: MIGRATIONS.filter((m) => m.toVersion <= version) })

module.exports = { TABLES, ALL_TABLES, schemaAt, migrationsAt }
