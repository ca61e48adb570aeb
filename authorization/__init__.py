"""The legal representative's authorization of an order: in person, by share link, or by bank
transfer with review (flows (二)3). Models arrive with those flows."""
