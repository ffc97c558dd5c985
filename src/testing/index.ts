export { backendConformance, conformanceCases, type ConformanceCase, type ConformanceTarget } from './conformance.js'
