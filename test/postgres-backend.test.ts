import { openPostgresBackend } from '../src/index.js'
import { backendConformance } from './support/backend-conformance.js'
import { freshSchemaUrl } from './support/postgres.js'

backendConformance('postgres (a real PostgreSQL server, a fresh schema per test)', () => openPostgresBackend(freshSchemaUrl(), { create: true }))
