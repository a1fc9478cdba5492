module authstack.local/benchmarks/peers/go

go 1.19

require github.com/golang-jwt/jwt/v4 v4.4.3

// golang-jwt comes from Debian's golang-github-golang-jwt-jwt-dev (4.4.3), not from the module proxy, which this
// project's machines cannot reach: Benchmarks/peers/setup.sh installs it; build with GOFLAGS=-mod=mod GOPROXY=off.
replace github.com/golang-jwt/jwt/v4 => /usr/share/gocode/src/github.com/golang-jwt/jwt
