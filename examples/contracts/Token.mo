// The seed's token: balances per principal, `getBalance` (query), `transfer` (update), `mint`.
import Map "mo:core/Map";
import Principal "mo:core/Principal";
import Error "mo:core/Error";

persistent actor Token {
  let balances = Map.empty<Principal, Nat64>();
  var supply : Nat64 = 0;

  func balanceOf(who : Principal) : Nat64 {
    switch (Map.get(balances, Principal.compare, who)) {
      case null 0;
      case (?b) b;
    }
  };

  // Only a controller of the canister (whoever deployed it) may create tokens.
  public shared ({ caller }) func mint(to : Principal, amount : Nat64) : async Nat64 {
    if (not Principal.isController(caller)) {
      throw Error.reject("only a controller may mint");
    };
    let b = balanceOf(to) + amount;
    Map.add(balances, Principal.compare, to, b);
    supply += amount;
    b
  };

  public query func getBalance(who : Principal) : async Nat64 {
    balanceOf(who)
  };

  public shared ({ caller }) func transfer(to : Principal, amount : Nat64) : async { #ok : Nat64; #err : Text } {
    let from = balanceOf(caller);
    if (from < amount) {
      return #err("insufficient funds: balance " # debug_show from # ", transfer " # debug_show amount);
    };
    Map.add(balances, Principal.compare, caller, from - amount);
    Map.add(balances, Principal.compare, to, balanceOf(to) + amount);
    #ok(from - amount)
  };

  public query func totalSupply() : async Nat64 {
    supply
  };

  public query ({ caller }) func whoami() : async Principal {
    caller
  };
};
