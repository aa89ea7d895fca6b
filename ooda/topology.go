package ooda

import "github.com/hartonomous/ooda/broker"

// Names of the loop's Service Broker objects. The SQL Server scripts create
// the same names; the embedded engine takes them from Topology.
const (
	ObserveQueue = "ooda.ObserveQueue"
	OrientQueue  = "ooda.OrientQueue"
	DecideQueue  = "ooda.DecideQueue"
	ActQueue     = "ooda.ActQueue"

	TriggerService = "//Hartonomous/OODA/TriggerService"
	ObserveService = "//Hartonomous/OODA/ObserveService"
	OrientService  = "//Hartonomous/OODA/OrientService"
	DecideService  = "//Hartonomous/OODA/DecideService"
	ActService     = "//Hartonomous/OODA/ActService"
)

// ContractFor names the contract of the dialogs that carry kind k.
func ContractFor(k Kind) string {
	return map[Kind]string{
		KindTrigger:     "//Hartonomous/OODA/TriggerContract",
		KindObservation: "//Hartonomous/OODA/ObservationContract",
		KindOrientation: "//Hartonomous/OODA/OrientationContract",
		KindDecision:    "//Hartonomous/OODA/DecisionContract",
		KindAction:      "//Hartonomous/OODA/ActionContract",
	}[k]
}

// Topology is the loop's queues, services, contracts and message types.
func Topology() broker.Topology {
	t := broker.Topology{Queues: []string{ObserveQueue, OrientQueue, DecideQueue, ActQueue}}
	for _, k := range []Kind{KindTrigger, KindObservation, KindOrientation, KindDecision, KindAction} {
		t.MessageTypes = append(t.MessageTypes, k.MessageType())
		t.Contracts = append(t.Contracts, broker.Contract{Name: ContractFor(k), Messages: map[string]broker.SentBy{k.MessageType(): broker.SentByInitiator}})
	}
	t.Services = []broker.Service{
		// The trigger service only starts dialogs; the EndDialog replies
		// land on the Observe queue, whose stage ends them.
		{Name: TriggerService, Queue: ObserveQueue},
		{Name: ObserveService, Queue: ObserveQueue, Contracts: []string{ContractFor(KindTrigger), ContractFor(KindAction)}},
		{Name: OrientService, Queue: OrientQueue, Contracts: []string{ContractFor(KindObservation)}},
		{Name: DecideService, Queue: DecideQueue, Contracts: []string{ContractFor(KindOrientation)}},
		{Name: ActService, Queue: ActQueue, Contracts: []string{ContractFor(KindDecision)}},
	}
	return t
}

// route is the dialog that carries kind k: from the service that produces it
// to the one that consumes it. Every send of the loop goes this way.
func route(k Kind) (from, to string) {
	switch k {
	case KindTrigger:
		return TriggerService, ObserveService
	case KindObservation:
		return ObserveService, OrientService
	case KindOrientation:
		return OrientService, DecideService
	case KindDecision: // the Decide stage's, and an operator's approval
		return DecideService, ActService
	case KindAction: // executed actions, to be validated after the window
		return ActService, ObserveService
	}
	return "", ""
}
