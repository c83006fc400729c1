package gatewayhttp

// Sign is the signature a Client puts on a call, for tests that send a
// call by hand.
var Sign = signature
