export { backendConformance, type ConformanceCase, type ConformanceTarget } from './conformance.js'
