package privatedocker

import "testing"

// docker0 is the same bridge whether or not a host container is attached at the moment (carrier,
// state, MTU); a recreated one, a changed address or MAC, a bridge set down, or none is not.
func TestBridgeIdentity(t *testing.T) {
	const addrs = `5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\       valid_lft forever preferred_lft forever
5: docker0    inet6 fe80::42:eaff:fee9:1d4d/64 scope link \       valid_lft forever preferred_lft forever`
	idle := `5: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN mode DEFAULT group default \    link/ether 02:42:ea:e9:1d:4d brd ff:ff:ff:ff:ff:ff`
	busy := `5: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default \    link/ether 02:42:ea:e9:1d:4d brd ff:ff:ff:ff:ff:ff`
	want := "5 docker0 up 02:42:ea:e9:1d:4d 172.17.0.1/16"
	for _, link := range []string{idle, busy} {
		if got := bridgeIdentity(link, addrs); got != want {
			t.Errorf("identity %q, want %q", got, want)
		}
	}
	for _, other := range [][2]string{
		{`9: docker0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP \    link/ether 02:42:ea:e9:1d:4d brd ff:ff:ff:ff:ff:ff`, addrs},
		{`5: docker0: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN \    link/ether 02:42:ea:e9:1d:4d brd ff:ff:ff:ff:ff:ff`, addrs},
		{`5: docker0: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN \    link/ether 02:42:00:00:00:01 brd ff:ff:ff:ff:ff:ff`, addrs},
		{idle, ""},
		{"", ""},
	} {
		if got := bridgeIdentity(other[0], other[1]); got == want {
			t.Errorf("%q with %q has the identity of docker0 as it was", other[0], other[1])
		}
	}
}
