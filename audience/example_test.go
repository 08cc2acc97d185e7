package audience_test

import (
	"fmt"

	"github.com/npsgate/npsgate/audience"
	"github.com/npsgate/npsgate/store"
)

func Example() {
	f, err := audience.Parse("role in (decision_maker, operator) and account.tier = KA and not tags has churned")
	if err != nil {
		panic(err)
	}
	fmt.Println(f)

	perAccount := audience.NewCap(1) // at most one contact per account and role
	for _, c := range []*store.Contact{
		{ExternalID: "c1", Account: "acme", Role: "operator", Attributes: map[string]string{"tier": "KA"}},
		{ExternalID: "c2", Account: "acme", Role: "operator", Attributes: map[string]string{"tier": "KA"}},
		{ExternalID: "c3", Account: "acme", Role: "decision_maker", Attributes: map[string]string{"tier": "KA"}},
		{ExternalID: "c4", Account: "acme", Role: "operator", Tags: []string{"churned"}, Attributes: map[string]string{"tier": "KA"}},
		{ExternalID: "c5", Account: "globex", Role: "operator", Attributes: map[string]string{"tier": "SMB"}},
	} {
		switch {
		case !f.Match(c):
			fmt.Println(c.ExternalID, "not in the audience")
		case !perAccount.Allow(c):
			fmt.Println(c.ExternalID, "over the cap for", c.Account, c.Role)
		default:
			fmt.Println(c.ExternalID, "surveyed")
		}
	}
	// Output:
	// role in (decision_maker, operator) and attributes.tier = KA and not tags has churned
	// c1 surveyed
	// c2 over the cap for acme operator
	// c3 surveyed
	// c4 not in the audience
	// c5 not in the audience
}

func ExampleParse_error() {
	_, err := audience.Parse("(locale = zh-CN or locale = zh-TW) and email")
	fmt.Println(err)
	// Output:
	// audience filter: column 45: expected an operator after email (=, !=, in, not in, has, exists, not exists, starts_with or contains), found end of expression
}

func ExampleInSlice() {
	// A campaign sampled 1/3 per run reaches each contact once every three runs.
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		var runs []int
		for run := 1; run <= 6; run++ {
			if audience.InSlice("campaign-7", id, run, 3) {
				runs = append(runs, run)
			}
		}
		fmt.Println(id, "in runs", runs)
	}
	// Output:
	// c1 in runs [1 4]
	// c2 in runs [3 6]
	// c3 in runs [2 5]
	// c4 in runs [3 6]
}
