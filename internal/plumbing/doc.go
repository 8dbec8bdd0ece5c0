// Package plumbing groups what every other group stands on: running commands (command), file
// locks for hk processes that run at once (filelock), progress lines (progress) and the stages of
// make test (stages). Its packages import nothing else of ours.
package plumbing
