package ooda

// ActionID exposes actionID to the tests of package ooda_test.
var ActionID = actionID
