// Package diagnose groups what an operator runs on a node that hit the failure in the field:
// hk doctor's checks and verdict (doctor). Its packages import source and plumbing.
package diagnose
