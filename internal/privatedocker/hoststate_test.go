package privatedocker

import "testing"

// docker0 is the same bridge whether or not a host container is attached at the moment; a
// recreated one (another index) or a changed MTU is not.
func TestBridgeIdentity(t *testing.T) {
	idle := `5: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1400 qdisc noqueue state DOWN mode DEFAULT group default \    link/ether 02:42:ac:11:00:01 brd ff:ff:ff:ff:ff:ff`
	busy := `5: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default \    link/ether 02:42:ac:11:00:01 brd ff:ff:ff:ff:ff:ff`
	if a, b := bridgeIdentity(idle), bridgeIdentity(busy); a != b {
		t.Errorf("carrier changes the identity: %q vs %q", a, b)
	}
	for _, other := range []string{
		`9: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default`,
		`5: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default`,
		`5: docker0: <BROADCAST,MULTICAST> mtu 1400 qdisc noqueue state DOWN mode DEFAULT group default`,
		``,
	} {
		if bridgeIdentity(other) == bridgeIdentity(idle) {
			t.Errorf("%q has the identity of %q", other, idle)
		}
	}
}
